from faultdrill.cli import main

raise SystemExit(main())
