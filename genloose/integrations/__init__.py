"""Adapters of genloose's metrics to other libraries' interfaces, each behind its own optional extra.

* :mod:`genloose.integrations.torchmetrics` (``pip install 'genloose[torchmetrics]'``): the class radius
  and the collision probability as ``torchmetrics.Metric``\\ s, for evaluation loops (PyTorch Lightning's
  ``validation_step`` included) and torchmetrics' own distributed synchronisation.

Nothing is imported here: importing a submodule whose extra is missing raises
:class:`~genloose.MissingDependencyError` naming the extra.
"""

__all__: list[str] = []
