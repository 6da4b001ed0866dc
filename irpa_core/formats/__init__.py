"""Format detection and ``open_archive``: one reader module per format."""


def open_archive(*paths):  # replaced by the readers issue
    raise NotImplementedError
