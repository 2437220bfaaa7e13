# Kernels started by the tests and by `make notebooks` run this first (IPYTHONDIR points here).
# 1. Each kernel gets its own result storage and price history, so a cache hit or a price drop is only
#    ever one the notebook made itself.
# 2. Prefect's deprecation warnings are errors: the course must not teach an API on its way out.
import os
import tempfile
import warnings

_kernel_dir = tempfile.mkdtemp(prefix="kernel-")
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(_kernel_dir, "results")
os.environ["PRICE_HISTORY_PATH"] = os.path.join(_kernel_dir, "price-history.sqlite")

from prefect._internal.compatibility.deprecated import PrefectDeprecationWarning  # noqa: E402

warnings.filterwarnings("error", category=PrefectDeprecationWarning)
