"""The OpenVINO runtime: each family's graph built from its checkpoint, quantized to 8 or 4 bits
by this project, converted once and cached beside the model, run behind the engine's model
interface."""
