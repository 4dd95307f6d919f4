"""The one exception type of the exporter: an expected failure, with a message written for the user."""


class ExportError(Exception):
    """A problem with the user's input or environment (bad checkpoint, colormap, unwritable folder, ...).

    The message says what is wrong and what to do; the CLI prints it as ``error: <message>`` without a traceback.
    """
