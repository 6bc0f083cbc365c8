"""Training pipeline (torch + torchvision; install with ``pip install 'xrayviewer[train]'``).

Reproduces the bundled classifier from the data with one command (``xrayviewer train``). The runtime
app never imports this package.
"""
