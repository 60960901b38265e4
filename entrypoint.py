from driftbot.action.main import main

raise SystemExit(main())
