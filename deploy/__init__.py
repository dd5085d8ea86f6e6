"""Robot side of neuroq: artifact I/O, encoders, the chip's neuron semantics, compiler,
emulator, SpiNNaker2 adapter and energy model.

numpy (plus nir/h5py for artifacts) only: importing this package never loads torch or rclpy.
"""
