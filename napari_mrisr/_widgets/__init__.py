"""napari dock widgets: thin Qt front ends over the package's core functions.

Each widget reads its parameters, runs the core in a napari ``thread_worker`` and adds layers;
no computation lives here (see DESIGN.md, "Layers: who may import whom").
"""
