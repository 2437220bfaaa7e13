# Kernels started by the tests and by `make notebooks` run this first (IPYTHONDIR points here).
# 1. Each kernel gets its own result storage and price history, so a cache hit or a price drop is only
#    ever one the notebook made itself.
# 2. Prefect's deprecation warnings are errors: the course must not teach an API on its way out.
#    KIT_KERNEL_DIR, when set, is that folder instead: the re-run tests give two kernels one folder, as
#    JupyterLab does when a learner runs a notebook twice. A folder made here is removed when the kernel exits.
import atexit
import os
import shutil
import tempfile
import warnings

_kernel_dir = os.environ.get("KIT_KERNEL_DIR") or tempfile.mkdtemp(prefix="kernel-")
if "KIT_KERNEL_DIR" not in os.environ:
    atexit.register(shutil.rmtree, _kernel_dir, True)
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(_kernel_dir, "results")
os.environ["PRICE_HISTORY_PATH"] = os.path.join(_kernel_dir, "price-history.sqlite")

from prefect._internal.compatibility.deprecated import PrefectDeprecationWarning  # noqa: E402

warnings.filterwarnings("error", category=PrefectDeprecationWarning)
