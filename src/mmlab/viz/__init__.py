"""Drawings and explorers for the course: the model made visible, with controls to move it.

Each explorer is a class with a picture (matplotlib), a text, and controls (ipywidgets); in a
notebook it is a live widget, elsewhere a static picture (:mod:`mmlab.viz.base`). Self-checks
and seeded drills live in :mod:`mmlab.viz.quiz`. Import the module you need, e.g.
``from mmlab.viz.addrspace import AddressSpaceExplorer``.

Model helper: no kernel counterpart (drawings of the model).
"""

__all__: list[str] = []
