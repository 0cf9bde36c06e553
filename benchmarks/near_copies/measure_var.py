"""measure_fp with module settings overridden: KERNEL GRID STRIDE REACH then measure_fp args."""
import sys, runpy
from scintiml.cnn import copies as C
kernel, grid, stride, reach = sys.argv[1:5]
C._KERNEL = tuple(float(v) for v in kernel.split(","))
C.FINGERPRINT_GRID = int(grid); C._STRIDE = int(stride); C.SHIFT_REACH = int(reach)
sys.argv = ["measure_fp.py"] + sys.argv[5:]
print("variant", C._KERNEL, C.FINGERPRINT_GRID, C._STRIDE, C.SHIFT_REACH)
runpy.run_path(__import__("os").path.join(__import__("os").path.dirname(__file__), "measure_fp.py"), run_name="__main__")
