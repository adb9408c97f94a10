"""``python -m scheduled_spec`` is the ``scheduled`` command."""

from scheduled_spec.cli import main

if __name__ == "__main__":
    main()
