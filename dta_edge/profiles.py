"""Device profiles: what a target machine is and how to run and measure on it.

Bench and export read these; the roofline figure uses the memory bandwidth. Values are
declarations by the user, never probed, so a profile validates on any machine.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from dta_edge.backends.registry import BackendName
from dta_edge.config import FrozenModel
from dta_edge.meters.registry import MeterName


class DeviceProfile(FrozenModel):
    """One device class: CPU laptop, laptop GPU, Jetson Orin, GPU server."""

    kind: Literal["profile"] = "profile"
    name: str = Field(description="Short name used in reports, e.g. 'jetson-orin-nano'.")
    description: str = ""
    device: Literal["cpu", "cuda"] = Field(description="Where inference runs.")
    backend: BackendName = Field(
        default="llama-cpp", description="Default generator backend on this device."
    )
    quantization: str = Field(
        default="q8_0", description="Default weight format, e.g. 'q4_k_m', 'int4', 'bf16'."
    )
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads; None lets the backend choose."
    )
    gpu_layers: int = Field(default=0, ge=-1, description="Layers offloaded to the GPU (-1 = all).")
    energy_meter: MeterName = Field(
        default="rapl",
        description="How energy is measured on this device (a meter of dta_edge/meters); "
        "default rapl on a CPU, nvml on a GPU, each falling back to the cpu-time estimate.",
    )
    meter_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of that meter, e.g. devices: [0] for nvml."
    )
    meter_fallback: MeterName | tuple[MeterName, ...] | None = Field(
        default=None,
        description="Meters to try in order when the first cannot open here (no RAPL in a VM, "
        "say): hardware meters first, an estimator last; results name the meter that read.",
    )

    @model_validator(mode="after")
    def _device_defaults(self) -> DeviceProfile:
        """A profile needs only name and device; what is left out follows from the device."""
        given = self.model_fields_set
        updates: dict[str, Any] = {}
        if self.device == "cuda":
            wanted = {"quantization": "q4_k_m", "gpu_layers": -1, "energy_meter": "nvml"}
            updates = {k: v for k, v in wanted.items() if k not in given}
        if "energy_meter" not in given and "meter_fallback" not in given:
            # the estimate needs tdp_w; without it the run goes on with no energy, never a guess
            updates["meter_fallback"] = ("cpu-time", "none")
        return self.model_copy(update=updates) if updates else self

    @property
    def meter_chain(self) -> tuple[str, ...]:
        """Every meter to try, in order: energy_meter, then the fallbacks."""
        rest = self.meter_fallback
        fallbacks = () if rest is None else (rest,) if isinstance(rest, str) else rest
        return (self.energy_meter, *fallbacks)

    memory_gib: float | None = Field(
        default=None, gt=0, description="Memory available to the model (None: not declared)."
    )
    memory_bandwidth_gbs: float | None = Field(
        default=None,
        gt=0,
        description="Peak memory bandwidth, for the roofline (None: no roofline share; "
        "`dta profile measure` measures it).",
    )
    matvec_gflops: dict[str, float] | None = Field(
        default=None,
        description="llama.cpp's CPU matrix-vector rate per ggml weight type (q8_0, q4_k, "
        "...), GFLOP/s in cache with `threads`: decode's compute ceiling beside the "
        "bandwidth one (`dta profile measure` times it; None: no compute ceiling).",
    )
    tdp_w: float | None = Field(
        default=None, gt=0, description="Board power, for estimated energy."
    )
    peak_tflops: float | None = Field(
        default=None,
        gt=0,
        description="Peak dense compute at the inference precision (prefill "
        "roofline); leave out when unknown.",
    )
