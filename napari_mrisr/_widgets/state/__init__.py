"""The docks' state without Qt: evented objects (psygnal) that a widget renders and a plain test
drives. :mod:`.shared` holds what every dock hears of (a new model file)."""
