"""``python -m humanoid_data`` runs the humanoid-data command."""

from humanoid_data.cli.main import main

raise SystemExit(main())
