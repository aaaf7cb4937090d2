"""Tests for genloose.metrics.radius.labeler: fixed blocks, query counts, margin gradients and the session."""

from __future__ import annotations

import pytest
import torch

from genloose import Classifier, Generator, ModelOutputError
from genloose.metrics.radius.labeler import ACCELERATOR_BLOCK_SIZE, CPU_BLOCK_SIZE, LatentLabeler, default_block_size


def _linear_labeler(d: int = 3, k: int = 4) -> tuple[LatentLabeler, torch.Tensor]:
    weight = torch.randn(k, d, generator=torch.Generator().manual_seed(0))
    gen = Generator(torch.nn.Identity(), latent_dim=d)
    clf = Classifier(lambda x: x @ weight.T)
    return LatentLabeler(gen, clf), weight


class TestLatentLabeler:
    def test_fixed_blocks_make_each_row_independent_of_its_batch(self) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = torch.nn.Sequential(torch.nn.Linear(8, 256), torch.nn.ReLU(), torch.nn.Linear(256, 5))
        labeler = LatentLabeler(Generator(net, latent_dim=8), Classifier(lambda x: x), block_size=32)
        z = torch.randn(70, 8, generator=torch.Generator().manual_seed(4))
        whole = labeler.scores(z)
        for rows in ([0], [3, 69], list(range(5, 40))):
            assert torch.equal(labeler.scores(z[rows]), whole[rows])

    def test_padding_rows_are_not_counted(self) -> None:
        labeler, _ = _linear_labeler()
        labeler.block_size = 8
        labeler.labels(torch.zeros(3, 3))
        assert labeler.queries.forward == 3

    def test_counts_queries_in_points(self) -> None:
        labeler, _ = _linear_labeler()
        labeler.labels(torch.zeros(5, 3))
        labeler.scores(torch.zeros(2, 3))
        labeler.margin_gradients(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), None)
        assert (labeler.queries.forward, labeler.queries.backward, labeler.queries.total) == (11, 4, 15)

    def test_margin_gradient_of_a_linear_model_is_exact(self) -> None:
        labeler, weight = _linear_labeler()
        z = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
        source = torch.zeros(6, dtype=torch.long)
        target = torch.full((6,), 2, dtype=torch.long)
        margin, grad, labels = labeler.margin_gradients(z, source, target)
        torch.testing.assert_close(grad, (weight[2] - weight[0]).expand(6, 3))
        torch.testing.assert_close(margin, z @ (weight[2] - weight[0]))
        assert torch.equal(labels, (z @ weight.T).argmax(1))

    def test_untargeted_margin_uses_the_best_other_class(self) -> None:
        labeler, weight = _linear_labeler()
        z = torch.randn(6, 3, generator=torch.Generator().manual_seed(3))
        scores = z @ weight.T
        source = scores.argmax(1)
        others = scores.clone()
        others[torch.arange(6), source] = -torch.inf
        margin, _, _ = labeler.margin_gradients(z, source, None)
        torch.testing.assert_close(margin, others.max(1).values - scores.max(1).values)

    def test_gradients_through_a_label_only_classifier_are_refused(self) -> None:
        labeler = LatentLabeler(
            Generator(torch.nn.Identity(), latent_dim=2), Classifier(lambda x: (x[:, 0] > 0).long(), num_classes=2)
        )
        assert not labeler.supports_gradients(torch.zeros(2, 2))
        with pytest.raises(ModelOutputError, match="not differentiable"):
            labeler.margin_gradients(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), None)

    def test_session_holds_eval_mode_and_restores_training_flags(self) -> None:
        net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
        net.train()
        net[0].eval()  # mixed flags must come back exactly
        seen = []

        def clf(x: torch.Tensor) -> torch.Tensor:
            seen.append(net.training)
            return x

        labeler = LatentLabeler(Generator(net, latent_dim=2), Classifier(clf))
        with labeler.session():
            labeler.labels(torch.ones(3, 2))
        assert seen == [False]
        assert net.training
        assert not net[0].training
        assert net[1].training


def test_grad_mode_inside_a_session_is_set_per_call_and_restored() -> None:
    seen = []

    def clf(x: torch.Tensor) -> torch.Tensor:
        seen.append(torch.is_grad_enabled())
        return torch.cat([x, -x], dim=1)

    labeler = LatentLabeler(Generator(torch.nn.Linear(1, 1), latent_dim=1), Classifier(clf))
    with torch.enable_grad(), labeler.session():
        labeler.labels(torch.ones(2, 1))
        labeler.margin_gradients(torch.ones(2, 1), torch.zeros(2, dtype=torch.long), None)
        assert torch.is_grad_enabled()
    with torch.no_grad(), labeler.session():
        labeler.margin_gradients(torch.ones(2, 1), torch.zeros(2, dtype=torch.long), None)
        assert not torch.is_grad_enabled()
    assert seen == [False, True, True]


def test_the_default_block_is_small_on_a_cpu_and_large_on_an_accelerator() -> None:
    assert (CPU_BLOCK_SIZE, ACCELERATOR_BLOCK_SIZE) == (32, 128)
    assert default_block_size(torch.device("cpu")) == CPU_BLOCK_SIZE
    assert default_block_size(torch.device("cuda", 0)) == ACCELERATOR_BLOCK_SIZE  # a device name needs no GPU


@pytest.mark.parametrize(
    ("generator_rows", "classifier_rows", "expected"), [(None, None, 32), (7, None, 7), (None, 9, 9)]
)
def test_the_adapters_batch_size_sets_the_block_else_the_device_default(
    generator_rows: int | None, classifier_rows: int | None, expected: int
) -> None:
    labeler = LatentLabeler(
        Generator(torch.nn.Identity(), latent_dim=2, batch_size=generator_rows),
        Classifier(lambda x: x, num_classes=2, batch_size=classifier_rows),
    )
    assert labeler.block_size == expected
    seen: list[int] = []
    labeler.generator.fn = lambda z: (seen.append(z.shape[0]), z)[1]  # type: ignore[method-assign]
    labeler.labels(torch.randn(expected + 1, 2))
    assert seen == [expected, expected]  # every call a full block, the last one padded


def test_a_search_records_its_block_size() -> None:
    import genloose

    result = genloose.class_radius(
        torch.nn.Identity(), lambda x: torch.stack([x[:, 0], -x[:, 0]], 1), latent_dim=2, num_samples=3, progress=False
    )
    assert result.metadata["block_size"] == CPU_BLOCK_SIZE
    generator = Generator(torch.nn.Identity(), latent_dim=2, batch_size=5)
    result = genloose.class_radius(
        generator, lambda x: torch.stack([x[:, 0], -x[:, 0]], 1), num_samples=3, progress=False
    )
    assert result.metadata["block_size"] == 5
