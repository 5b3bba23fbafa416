"""Energy meters: one Meter protocol (base.py), one module per source, a registry.

Which reader, and why not zeus: zeus (ML.ENERGY) reads NVML, RAPL and Jetson correctly, but its
wheel pulls pandas, scikit-learn, amdsmi and tyro into every install, and its readers open the
hardware themselves, so tests could not replay recorded readings below them. Each of our readers
is a few dozen lines over the lowest layer (the pynvml module, the powercap and hwmon sysfs
trees), and tests replace exactly that layer. For AMD GPUs or Apple silicon, where we have no
reader, zeus is the tool to reach for.
"""
