"""Tests for genloose.models: adapters check outputs, isolate RNG state, restore modes and count queries."""

from __future__ import annotations

import contextlib
import random
import re
import warnings

import numpy as np
import pytest
import torch

import genloose
from genloose import Classifier, Generator, InvalidArgumentError, ModelOutputError
from genloose.metrics.radius.labeler import LatentLabeler
from genloose.models import as_classifier, as_generator, indexed_rows


class TestGenerator:
    def test_batches_give_the_same_output_as_one_call_within_rounding(self) -> None:
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
        z = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
        whole = Generator(net, latent_dim=4)(z)
        split = Generator(net, latent_dim=4, batch_size=3)(z)
        torch.testing.assert_close(whole, split)

    def test_numpy_backend_receives_float64_arrays(self) -> None:
        seen = []

        def fn(z: np.ndarray) -> np.ndarray:
            seen.append(z.dtype)
            return z * 2

        out = Generator(fn, latent_dim=2, backend="numpy")(torch.ones(3, 2))
        assert seen == [np.float64]
        assert torch.equal(out, torch.full((3, 2), 2.0, dtype=torch.float64))

    def test_nan_output_reports_row_count_and_first_index(self) -> None:
        def fn(z: torch.Tensor) -> torch.Tensor:
            out = z.clone()
            out[[2, 5]] = float("nan")
            return out

        with pytest.raises(ModelOutputError, match=r"2 of 8 latents \(first at latent index 10\)"):
            Generator(fn, latent_dim=2)(torch.zeros(8, 2), offset=8)

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64])
    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
    def test_every_non_finite_value_is_caught_in_every_dtype(self, dtype: torch.dtype, bad: float) -> None:
        def fn(z: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(z.shape[0], 5, dtype=dtype)
            out[3, 4] = bad
            return out

        with pytest.raises(ModelOutputError, match=r"1 of 6 latents \(first at latent index 3\)"):
            Generator(fn, latent_dim=2)(torch.zeros(6, 2))

    @pytest.mark.parametrize(("dtype", "value"), [(torch.float16, 60000.0), (torch.float32, 3e38)])
    def test_finite_outputs_whose_sum_overflows_are_accepted(self, dtype: torch.dtype, value: float) -> None:
        # the fast check sums the output; a sum that overflows must fall back to the exact scan, not fail
        def fn(z: torch.Tensor) -> torch.Tensor:
            return torch.full((z.shape[0], 64), value, dtype=dtype)

        out = Generator(fn, latent_dim=2)(torch.zeros(4, 2))
        assert out.dtype == dtype
        assert torch.isinf(out.sum())  # in the output's own dtype the sum overflows

    def test_a_model_that_switches_the_grad_mode_does_not_leak_it(self) -> None:
        def rude(z: torch.Tensor) -> torch.Tensor:
            torch.set_grad_enabled(True)
            return z

        labeler = LatentLabeler(Generator(rude, latent_dim=2), Classifier(lambda x: x))
        for session in (contextlib.nullcontext(), labeler.session()):
            with torch.no_grad(), session:
                Generator(rude, latent_dim=2)(torch.zeros(1, 2))
                assert not torch.is_grad_enabled()
                labeler.labels(torch.zeros(3, 2))
                assert not torch.is_grad_enabled()

    @pytest.mark.parametrize("which", ["generator", "classifier"])
    def test_numpy_models_receive_bfloat16_as_float(self, which: str) -> None:
        seen = []

        def fn(x: np.ndarray) -> np.ndarray:
            seen.append(x.dtype)
            return x

        gen = Generator(
            fn if which == "generator" else torch.nn.Identity(),
            latent_dim=2,
            dtype=torch.bfloat16,
            backend="numpy" if which == "generator" else "torch",
        )
        clf = Classifier(
            fn if which == "classifier" else (lambda x: x), backend="numpy" if which == "classifier" else "torch"
        )
        labels = LatentLabeler(gen, clf).labels(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.bfloat16))
        assert labels.tolist() == [0, 1]
        assert seen == [np.float64 if which == "generator" else np.float32]

    def test_wrong_number_of_rows_is_an_error(self) -> None:
        with pytest.raises(ModelOutputError, match="expected first dimension 4"):
            Generator(lambda z: z[:2], latent_dim=2)(torch.zeros(4, 2))

    def test_non_tensor_output_is_an_error(self) -> None:
        with pytest.raises(ModelOutputError, match=r"must return a torch\.Tensor or numpy\.ndarray; got list"):
            Generator(lambda z: [1, 2], latent_dim=2)(torch.zeros(2, 2))

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"latent_dim": 0}, "latent_dim must be an integer >= 1"),
            ({"latent_dim": 2.0}, "latent_dim must be an integer"),
            ({"latent_dim": 2, "backend": "jax"}, "backend must be one of"),
            ({"latent_dim": 2, "batch_size": 0}, "batch_size must be an integer >= 1"),
            ({"latent_dim": 2, "dtype": torch.int32}, "dtype must be a floating torch dtype"),
            ({"latent_dim": 2, "device": "nowhere"}, "device must be a torch device"),
        ],
    )
    def test_bad_arguments_name_the_argument(self, kwargs: dict, match: str) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            Generator(torch.nn.Identity(), **kwargs)

    def test_not_callable(self) -> None:
        with pytest.raises(InvalidArgumentError, match="generator must be callable"):
            Generator(3, latent_dim=2)

    def test_dtype_follows_module_parameters(self) -> None:
        net = torch.nn.Linear(2, 2).double()
        assert Generator(net, latent_dim=2).dtype == torch.float64


class TestClassifier:
    def test_scores_give_argmax_labels_and_fix_num_classes(self) -> None:
        clf = Classifier(lambda x: x)
        assert clf.labels(torch.tensor([[0.0, 3.0, 1.0]])).tolist() == [1]
        assert clf.num_classes == 3
        with pytest.raises(ModelOutputError, match="scores for 2 classes; expected num_classes=3"):
            clf.labels(torch.zeros(1, 2))

    def test_labels_are_range_checked(self) -> None:
        clf = Classifier(lambda x: x[:, 0].long(), num_classes=3)
        assert clf.labels(torch.tensor([[2.0], [0.0]])).tolist() == [2, 0]
        with pytest.raises(ModelOutputError, match=r"outside \[0, 3\): min 0, max 5"):
            clf.labels(torch.tensor([[0.0], [5.0]]))
        with pytest.raises(ModelOutputError, match="min -1"):
            Classifier(lambda x: x[:, 0].long()).labels(torch.tensor([[-1.0]]))

    @pytest.mark.parametrize(
        ("fn", "match"),
        [
            (lambda x: x[:, 0], "labels must be integers; got dtype torch.float32"),
            (lambda x: x[:, 0] > 0, "labels must be integers; got dtype torch.bool"),
            (lambda x: x[:1].long(), r"labels of shape \(2,\) or scores of shape \(2, K\)"),
            (lambda x: x[None], r"got shape \(1, 2, 3\)"),
            (lambda x: x.long(), "scores must be floats"),
            (lambda x: x / 0.0, "NaN or Inf scores for 2 of 2 samples"),
        ],
    )
    def test_bad_outputs(self, fn, match: str) -> None:
        with pytest.raises(ModelOutputError, match=match):
            Classifier(fn).labels(torch.ones(2, 3))

    def test_switching_between_labels_and_scores_is_an_error(self) -> None:
        calls = iter([torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)])
        clf = Classifier(lambda x: next(calls))
        clf.labels(torch.ones(2, 3))
        with pytest.raises(ModelOutputError, match="switched between returning labels and scores"):
            clf.labels(torch.ones(2, 3))

    def test_numpy_backend(self) -> None:
        clf = Classifier(lambda x: (x[:, 0] > 0).astype(np.int64), num_classes=2, backend="numpy")
        assert clf.labels(torch.tensor([[1.0], [-1.0]])).tolist() == [1, 0]


class TestIsolationAndModes:
    def test_global_rng_states_are_untouched_by_a_noisy_generator(self) -> None:
        def noisy(z: torch.Tensor) -> torch.Tensor:
            np.random.standard_normal(3)
            random.random()
            return z + 1e-3 * torch.randn_like(z)

        torch_state = torch.get_rng_state()
        numpy_state = np.random.get_state()[1].copy()
        python_state = random.getstate()
        Generator(noisy, latent_dim=2)(torch.zeros(4, 2))
        assert torch.equal(torch.get_rng_state(), torch_state)
        assert np.array_equal(np.random.get_state()[1], numpy_state)
        assert random.getstate() == python_state

    def test_no_autograd_graph_for_labels(self) -> None:
        seen = []

        def clf(x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.is_grad_enabled())
            return x

        LatentLabeler(Generator(torch.nn.Linear(2, 2), latent_dim=2), Classifier(clf)).labels(torch.ones(1, 2))
        assert seen == [False]


class TestCallBlock:
    """The block interface the search's labeler uses: one unsplit call, padding rows left unchecked."""

    def test_generator_block_is_one_call_whatever_the_batch_size(self) -> None:
        sizes = []

        def fn(z: torch.Tensor) -> torch.Tensor:
            sizes.append(z.shape[0])
            return 2 * z

        gen = Generator(fn, latent_dim=2, batch_size=2)
        out = gen.call_block(torch.ones(5, 2), grad=False, place=indexed_rows("latent index", 0))
        assert sizes == [5]
        assert torch.equal(out, torch.full((5, 2), 2.0))

    @pytest.mark.parametrize("which", ["generator", "classifier"])
    def test_only_the_real_rows_are_checked_and_named_by_place(self, which: str) -> None:
        def nan_after_two(x: torch.Tensor) -> torch.Tensor:
            out = x.clone()
            out[2:] = float("nan")
            return out

        adapter = Generator(nan_after_two, latent_dim=2) if which == "generator" else Classifier(nan_after_two)
        block = torch.ones(4, 2)
        out = adapter.call_block(block, grad=False, place=indexed_rows("latent index", 7), real=2)
        assert out.shape == (4, 2)
        assert bool(torch.isnan(out[2:]).all())
        with pytest.raises(ModelOutputError, match=r"for 1 of 3 .*\(first at latent index 9\)"):
            adapter.call_block(block, grad=False, place=indexed_rows("latent index", 7), real=3)

    def test_grad_flows_through_a_block_only_when_asked(self) -> None:
        gen = Generator(torch.nn.Identity(), latent_dim=2)
        clf = Classifier(lambda x: torch.cat([x, -x], dim=1))
        z = torch.ones(3, 2, requires_grad=True)
        place = indexed_rows("latent index", 0)
        assert clf.call_block(gen.call_block(z, grad=True, place=place), grad=True, place=place).requires_grad
        assert not clf.call_block(gen.call_block(z, grad=False, place=place), grad=False, place=place).requires_grad


def test_as_generator_and_as_classifier() -> None:
    gen = Generator(torch.nn.Identity(), latent_dim=3)
    assert as_generator(gen, latent_dim=None) is gen
    with pytest.raises(InvalidArgumentError, match="latent_dim must match the generator's latent_dim=3; got 4"):
        as_generator(gen, latent_dim=4)
    with pytest.raises(InvalidArgumentError, match="latent_dim must be given for a bare generator"):
        as_generator(torch.nn.Identity(), latent_dim=None)
    clf = Classifier(lambda x: x)
    assert as_classifier(clf) is clf


@pytest.mark.parametrize("in_session", [False, True])
@pytest.mark.parametrize("which", ["generator", "classifier"])
def test_an_exception_inside_a_model_becomes_a_model_output_error(which: str, in_session: bool) -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    gen = Generator(broken if which == "generator" else torch.nn.Identity(), latent_dim=2)
    clf = Classifier(broken if which == "classifier" else (lambda x: x))
    labeler = LatentLabeler(gen, clf)
    with contextlib.ExitStack() as stack:
        if in_session:  # inside a session the adapters take their fast path (no context managers per call)
            stack.enter_context(labeler.session())
        with pytest.raises(ModelOutputError, match=f"{which} raised RuntimeError: mat1 and mat2") as info:
            labeler.labels(torch.zeros(3, 2))
    assert isinstance(info.value.__cause__, RuntimeError)


# ----------------------------------------------------------------------------------------------
# models as people write them: latent_shape, and what a first-call failure says
# ----------------------------------------------------------------------------------------------


class _DCGANGenerator(torch.nn.Module):
    """The first block of the PyTorch DCGAN recipe's generator: latents of shape (n, d, 1, 1)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.main = torch.nn.Sequential(torch.nn.ConvTranspose2d(d, 3, 4, 1, 0, bias=False), torch.nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


def test_latent_shape_feeds_a_dcgan_generator() -> None:
    torch.manual_seed(0)
    net = _DCGANGenerator(8)
    g = Generator(net, latent_dim=8, latent_shape=(8, 1, 1))
    z = torch.randn(5, 8)
    np.testing.assert_array_equal(g(z).detach().numpy(), net(z.reshape(5, 8, 1, 1)).detach().numpy())
    assert "latent_shape=(8, 1, 1)" in repr(g)
    # gradients flow through the reshape: the white-box search is used
    report = genloose.evaluate(g, lambda x: x.flatten(1)[:, :4], num_samples=20, progress=False)
    assert report.metadata.access == "white-box"
    assert report.radius_result.latents.shape == (20, 8)


@pytest.mark.parametrize(
    ("latent_shape", "got"),
    [
        ((8, 2, 1), r"\(8, 2, 1\) \(tuple\)"),
        ((0, 8), r"\(0, 8\)"),
        ("8,1,1", r"'8,1,1' \(str\)"),
        ((8.0, 1), r"\(8.0, 1\)"),
    ],
)
def test_latent_shape_must_multiply_to_latent_dim(latent_shape, got: str) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"latent_shape must be a sequence of positive ints whose product is "
        r"latent_dim=8, e.g. \(8, 1, 1\); got " + got,
    ):
        Generator(torch.nn.Identity(), latent_dim=8, latent_shape=latent_shape)


def _first_call_error(generator, classifier, **kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", genloose.GenlooseWarning)  # the numpy generator: label-only search
        with pytest.raises(ModelOutputError) as caught:
            genloose.evaluate(generator, classifier, num_samples=10, progress=False, **kwargs)
    return str(caught.value)


def test_first_call_failure_names_a_latent_dim_that_disagrees_with_the_first_layer() -> None:
    message = _first_call_error(torch.nn.Linear(100, 10), lambda x: x, latent_dim=8)
    assert message.startswith("generator raised RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert re.search(r"genloose sent the generator a tensor of shape \(\d+, 8\), dtype float32, on cpu", message)
    assert "Likely cause: latent_dim=8 disagrees with the generator's first layer, which takes 100 features" in message


def test_first_call_failure_suggests_latent_shape_for_a_dcgan() -> None:
    message = _first_call_error(_DCGANGenerator(8), lambda x: x.flatten(1), latent_dim=8)
    assert re.search(r"tensor of shape \(\d+, 8\)", message)
    assert "pass genloose.Generator(g, latent_dim=8, latent_shape=(8, 1, 1))" in message


def test_first_call_failure_names_a_float64_generator_feeding_a_float32_classifier() -> None:
    # a module classifier is given samples in its own dtype; a function around one is called as it is
    net = torch.nn.Linear(3, 4)
    message = _first_call_error(lambda z: z.double(), lambda x: net(x), latent_dim=3)
    assert message.startswith("classifier raised RuntimeError")
    assert re.search(r"genloose sent the classifier a tensor of shape \(\d+, 3\), dtype float64, on cpu", message)
    assert "a float64 generator feeding a float32 classifier" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch build or machine without CUDA")
def test_cuda_on_a_machine_without_it() -> None:
    with pytest.raises(InvalidArgumentError, match=r"device must be a device available on this machine; got 'cuda' "):
        Generator(torch.nn.Identity(), latent_dim=3, device="cuda")
    message = _first_call_error(lambda z: z.cuda(), torch.nn.Linear(3, 4), latent_dim=3)
    assert re.search(r"tensor of shape \(\d+, 3\), dtype float32, on cpu", message)
    assert "asks for a CUDA device, but this torch build or machine has none" in message


def test_an_unrecognised_failure_still_says_what_was_sent() -> None:
    def broken(z):
        raise KeyError("weights")

    message = _first_call_error(broken, lambda x: x, latent_dim=3)
    assert re.fullmatch(
        r"generator raised KeyError: 'weights'; genloose sent the generator a tensor of shape \(\d+, 3\), dtype "
        r"float32, on cpu",
        message,
    )
    numpy_message = _first_call_error(Generator(broken, latent_dim=3, backend="numpy"), lambda x: x)
    assert re.search(r"genloose sent the generator a numpy array of shape \(\d+, 3\), dtype float64$", numpy_message)
