# Kernels started by the tests and by `make notebooks` run this first (IPYTHONDIR points here).
# 1. Each kernel gets its own result storage, so a cache hit is only ever one the notebook made itself.
# 2. Prefect's deprecation warnings are errors: the course must not teach an API on its way out.
import os
import tempfile
import warnings

os.environ["PREFECT_LOCAL_STORAGE_PATH"] = tempfile.mkdtemp(prefix="kernel-results-")

from prefect._internal.compatibility.deprecated import PrefectDeprecationWarning  # noqa: E402

warnings.filterwarnings("error", category=PrefectDeprecationWarning)
