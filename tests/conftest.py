"""Suite-wide set-up that must happen before JAX starts."""

import os

# Two CPU devices whatever the machine, so the data-parallel LSTM path is what the
# suite exercises (forecasting.model would otherwise claim one device per core only
# if it were imported before the first JAX computation of the session).
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")
