"""Fixtures shared by the export tests."""

# Greedy-parity prompts shared by the GGUF and ONNX tests.
PROMPTS = [
    "What is the received power in dBm?",
    "A 2400 MHz radio link spans 3.2 km in free space. What is the free-space path loss in dB?",
    "An M/M/1 queue has arrival rate 40 packets/s and service rate 50 packets/s.",
    "Step 1:",
    "The capacity of a 20 MHz channel",
    "Question: A link has 30 dBm transmit power and 95 dB path loss.",
    "Step 2: Substitute the values.",
    "An Erlang-B system with 10 channels",
]
