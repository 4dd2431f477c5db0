"""One module per ``mlgates`` sub-command, each with ``main(argv) -> int``."""
