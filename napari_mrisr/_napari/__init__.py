"""napari glue: volumes as layers, the reading convention on screen, the manifest's reader,
writer and sample data. Everything that knows napari's world axes or its viewer lives here."""
