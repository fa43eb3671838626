"""napari dock widgets: thin Qt front ends over the package's core functions.

Each widget reads its parameters, runs a core generator through ``_common.start_worker`` (the
one place workers are wired) and adds the returned result as layers; no computation lives
here. Layer choices stay current through ``reset_choices`` (napari calls it on layer
changes); widgets learn of new models through ``_signals.MODELS``.
"""
