from humanoid_data.cli.main import main

raise SystemExit(main())
