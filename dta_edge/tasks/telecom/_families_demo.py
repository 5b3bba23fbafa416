"""The demo tier: one family per TeleMath category, small integers, one or two operations.

The standard families need logarithms and four-figure arithmetic that a model of a few million
parameters cannot learn in minutes on a laptop CPU. These keep the domain's text and formulas but
use operands a small model can learn to handle: a two-digit plus one-digit sum, a one-digit
product, an exact division, a base-2 logarithm of a power of two; results are never negative.
Basic problems take one operation, advanced ones two. Each draw carries its solution in two
formats: one two-operand operation per step, and everything in one line (``oneshot``).
"""

from __future__ import annotations

import random

from dta_edge.records import Difficulty
from dta_edge.tasks.telecom._common import Family, FamilyProblem, pick

TE = "Telecommunications Engineering"
PS = "Probability & Statistics"
SP = "Signal Processing"
OR = "Operations Research"
IT = "Information Theory"
CN = "Computer Networking"
EE = "Electrical Engineering"

POWERS_OF_TWO = (2, 4, 8, 16, 32, 64)


def _log2(value: int) -> int:
    return value.bit_length() - 1


def _problem(
    question: str, answer: int, unit: str, steps: tuple[str, ...], oneshot: str, method: str
) -> FamilyProblem:
    return FamilyProblem(question, answer, unit, steps, method, rel_tol=0.001, oneshot=oneshot)


def eirp(rng: random.Random, level: Difficulty) -> FamilyProblem:
    power, gain = rng.randint(10, 39), rng.randint(2, 9)
    if level == "basic":
        q = (f"A transmitter outputs {power} dBm into an antenna with {gain} dBi of gain. "
             "What is the EIRP in dBm?")  # fmt: skip
        step = f"EIRP = P + G = {power} + {gain} = {power + gain} dBm."
        return _problem(q, power + gain, "dBm", (step,), step, "Add the antenna gain to the power.")
    loss = rng.randint(1, 5)
    fed = power - loss
    q = (f"A transmitter outputs {power} dBm through a cable with {loss} dB of loss into an "
         f"antenna with {gain} dBi of gain. What is the EIRP in dBm?")  # fmt: skip
    steps = (f"Power at the antenna = P - Lc = {power} - {loss} = {fed} dBm.",
             f"EIRP = {fed} + G = {fed} + {gain} = {fed + gain} dBm.")  # fmt: skip
    oneshot = f"EIRP = P - Lc + G = {power} - {loss} + {gain} = {fed + gain} dBm."
    return _problem(q, fed + gain, "dBm", steps, oneshot, "Subtract the cable loss, add the gain.")


def capacity(rng: random.Random, level: Difficulty) -> FamilyProblem:
    bandwidth = rng.randint(2, 9)
    if level == "basic":
        efficiency = rng.randint(2, 9)
        q = (f"A channel of {bandwidth} kHz supports a spectral efficiency of {efficiency} "
             "bit/s/Hz. What is its capacity in kbit/s?")  # fmt: skip
        step = f"C = B * SE = {bandwidth} * {efficiency} = {bandwidth * efficiency} kbit/s."
        return _problem(q, bandwidth * efficiency, "kbit/s", (step,), step,
                        "Multiply bandwidth by spectral efficiency.")  # fmt: skip
    levels = pick(rng, POWERS_OF_TWO)
    bits = _log2(levels)
    q = (f"A channel of {bandwidth} kHz has a linear SNR of {levels - 1}. "
         "What is its Shannon capacity in kbit/s?")  # fmt: skip
    steps = (f"log2(1 + SNR) = log2(1 + {levels - 1}) = log2({levels}) = {bits} bit/s/Hz.",
             f"C = B * {bits} = {bandwidth} * {bits} = {bandwidth * bits} kbit/s.")  # fmt: skip
    oneshot = f"C = B * log2(1 + SNR) = {bandwidth} * log2({levels}) = {bandwidth * bits} kbit/s."
    return _problem(q, bandwidth * bits, "kbit/s", steps, oneshot,
                    "Take log2 of 1 + SNR, then multiply by the bandwidth.")  # fmt: skip


def qam_rate(rng: random.Random, level: Difficulty) -> FamilyProblem:
    symbols = rng.randint(2, 9)
    if level == "basic":
        bits = rng.randint(2, 8)
        q = (f"A modem sends {symbols} Msymbol/s with {bits} bits per symbol. "
             "What is its bit rate in Mbit/s?")  # fmt: skip
        step = f"R = Rs * b = {symbols} * {bits} = {symbols * bits} Mbit/s."
        return _problem(q, symbols * bits, "Mbit/s", (step,), step,
                        "Multiply the symbol rate by the bits per symbol.")  # fmt: skip
    order = pick(rng, POWERS_OF_TWO)
    bits = _log2(order)
    q = (f"A modem sends {symbols} Msymbol/s using {order}-QAM. "
         "What is its bit rate in Mbit/s?")  # fmt: skip
    steps = (f"Bits per symbol b = log2({order}) = {bits}.",
             f"R = Rs * b = {symbols} * {bits} = {symbols * bits} Mbit/s.")  # fmt: skip
    oneshot = f"R = Rs * log2(M) = {symbols} * log2({order}) = {symbols * bits} Mbit/s."
    return _problem(q, symbols * bits, "Mbit/s", steps, oneshot,
                    "Take log2 of the constellation size, then multiply.")  # fmt: skip


def offered_traffic(rng: random.Random, level: Difficulty) -> FamilyProblem:
    holding = rng.randint(2, 9)
    if level == "basic":
        rate = rng.randint(2, 9)
        q = (f"A cell receives {rate} calls per minute and each call lasts {holding} minutes on "
             "average. What is the offered traffic in Erlang?")  # fmt: skip
        step = f"A = lambda * h = {rate} * {holding} = {rate * holding} Erlang."
        return _problem(q, rate * holding, "Erlang", (step,), step,
                        "Multiply the call rate by the holding time.")  # fmt: skip
    new = rng.randint(1, 6)
    handover = rng.randint(1, 9 - new)
    rate = new + handover
    q = (f"A cell receives {new} new calls and {handover} handover calls per minute, and each "
         f"call lasts {holding} minutes on average. What is the offered traffic in Erlang?")  # fmt: skip
    steps = (f"lambda = {new} + {handover} = {rate} calls per minute.",
             f"A = lambda * h = {rate} * {holding} = {rate * holding} Erlang.")  # fmt: skip
    oneshot = f"A = (ln + lh) * h = ({new} + {handover}) * {holding} = {rate * holding} Erlang."
    return _problem(q, rate * holding, "Erlang", steps, oneshot,
                    "Add the call rates, then multiply by the holding time.")  # fmt: skip


def poisson_mean(rng: random.Random, level: Difficulty) -> FamilyProblem:
    window = rng.randint(2, 9)
    if level == "basic":
        rate = rng.randint(2, 9)
        q = (f"Packets arrive as a Poisson process at {rate} per millisecond. How many packets "
             f"are expected in {window} milliseconds?")  # fmt: skip
        step = f"E[N] = lambda * t = {rate} * {window} = {rate * window}."
        return _problem(q, rate * window, "", (step,), step,
                        "The Poisson mean is rate times time.")  # fmt: skip
    first = rng.randint(1, 6)
    second = rng.randint(1, 9 - first)
    rate = first + second
    q = (f"Two independent Poisson flows send {first} and {second} packets per millisecond to a "
         f"router. How many packets are expected in {window} milliseconds?")  # fmt: skip
    steps = (f"lambda = {first} + {second} = {rate} per millisecond.",
             f"E[N] = lambda * t = {rate} * {window} = {rate * window}.")  # fmt: skip
    oneshot = f"E[N] = (l1 + l2) * t = ({first} + {second}) * {window} = {rate * window}."
    return _problem(q, rate * window, "", steps, oneshot,
                    "Merged Poisson flows add their rates; the mean is rate times time.")  # fmt: skip


def transmission_delay(rng: random.Random, level: Difficulty) -> FamilyProblem:
    rate, delay = rng.randint(2, 9), rng.randint(2, 9)
    size = rate * delay
    q = (f"A packet of {size} kbit is sent over a {rate} Mbit/s link. "
         "What is its transmission delay in ms?")  # fmt: skip
    step = f"T = L / R = {size} / {rate} = {delay} ms."
    if level == "basic":
        return _problem(q, delay, "ms", (step,), step, "Divide the packet size by the link rate.")
    propagation = rng.randint(1, 9)
    q = (f"A packet of {size} kbit is sent over a {rate} Mbit/s link whose propagation delay is "
         f"{propagation} ms. What is the total delay in ms?")  # fmt: skip
    steps = (step, f"D = T + Tp = {delay} + {propagation} = {delay + propagation} ms.")
    oneshot = f"D = L / R + Tp = {size} / {rate} + {propagation} = {delay + propagation} ms."
    return _problem(q, delay + propagation, "ms", steps, oneshot,
                    "Divide size by rate, then add the propagation delay.")  # fmt: skip


def cascade_gain(rng: random.Random, level: Difficulty) -> FamilyProblem:
    first, second = rng.randint(10, 39), rng.randint(2, 9)
    total = first + second
    step = f"G = G1 + G2 = {first} + {second} = {total} dB."
    if level == "basic":
        q = (f"Two amplifiers with gains of {first} dB and {second} dB are connected in cascade. "
             "What is the total gain in dB?")  # fmt: skip
        return _problem(q, total, "dB", (step,), step, "Gains in dB add.")
    third = rng.randint(2, 9)
    q = (f"Three amplifiers with gains of {first} dB, {second} dB and {third} dB are connected "
         "in cascade. What is the total gain in dB?")  # fmt: skip
    steps = (step, f"G = {total} + G3 = {total} + {third} = {total + third} dB.")
    oneshot = f"G = G1 + G2 + G3 = {first} + {second} + {third} = {total + third} dB."
    return _problem(q, total + third, "dB", steps, oneshot, "Gains in dB add.")


FAMILIES_DEMO: tuple[Family, ...] = (
    Family("demo-eirp", TE, eirp),
    Family("demo-capacity", IT, capacity),
    Family("demo-qam-rate", SP, qam_rate),
    Family("demo-offered-traffic", OR, offered_traffic),
    Family("demo-poisson-mean", PS, poisson_mean),
    Family("demo-transmission-delay", CN, transmission_delay),
    Family("demo-cascade-gain", EE, cascade_gain),
)
