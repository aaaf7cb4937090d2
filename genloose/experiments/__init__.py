"""Reproductions of the paper's figures, used by ``genloose reproduce``."""

from genloose.experiments.grid import grid_rank_correlation, reproduce_grid, run_grid_experiment
from genloose.experiments.vae import run_vae_experiment

__all__ = ["grid_rank_correlation", "reproduce_grid", "run_grid_experiment", "run_vae_experiment"]
