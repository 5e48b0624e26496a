"""``python -m humanoid_data`` runs the humanoid-data command."""

from humanoid_data.cli.main import main

if __name__ == '__main__':     # not when a worker process imports it
    raise SystemExit(main())
