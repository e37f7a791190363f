"""``python -m ai.pipelines.report RUN_DIR``: rebuild a run's report and print its path."""

import sys

from ai.pipelines.report.writer import main

sys.exit(main())
