"""Counter-based random numbers: each draw is a pure function of (seed, stream, key, counter).

A sequential generator ties every draw to the order of the draws before it, so the traffic would
change with the step size, the speed, or how a wall-clock tick happened to fall. Here a berth's
k-th stay, say, is always the same number, however time is cut into steps.
"""

import math
import zlib

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_MASK = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: U64) -> U64:
    """The splitmix64 finaliser: a bijection on 64-bit words that scatters every input bit."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    result: U64 = x ^ (x >> np.uint64(31))
    return result


class Stream:
    """Independent draws for one purpose (stays, delays, faults, ...) under one seed."""

    def __init__(self, seed: int, purpose: str) -> None:
        base = (seed * 0x9E3779B97F4A7C15 + zlib.crc32(purpose.encode()) * 0xC2B2AE3D27D4EB4F) & _MASK
        self._base = np.uint64(base)

    def _bits(self, key: npt.ArrayLike, counter: npt.ArrayLike, salt: int) -> U64:
        k = np.atleast_1d(np.asarray(key, dtype=np.int64)).astype(np.uint64)
        c = np.atleast_1d(np.asarray(counter, dtype=np.int64)).astype(np.uint64)
        x = _mix(k * _GOLDEN + self._base)
        return _mix(x ^ _mix(c * _M2 + np.uint64(((salt + 1) * 0x9E3779B97F4A7C15) & _MASK)))

    def uniform(self, key: npt.ArrayLike, counter: npt.ArrayLike = 0, salt: int = 0) -> FloatArray:
        """Uniform in [0, 1), one per element of the broadcast key and counter arrays."""
        result: FloatArray = (self._bits(key, counter, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        return result

    def exponential(self, key: npt.ArrayLike, counter: npt.ArrayLike = 0, salt: int = 0) -> FloatArray:
        """Exponential with mean 1."""
        result: FloatArray = -np.log1p(-self.uniform(key, counter, salt))
        return result

    def normal(self, key: npt.ArrayLike, counter: npt.ArrayLike = 0, salt: int = 0) -> FloatArray:
        """Standard normal (Box-Muller over two salted uniforms)."""
        radius = np.sqrt(-2.0 * np.log1p(-self.uniform(key, counter, 2 * salt)))
        result: FloatArray = radius * np.cos(2.0 * math.pi * self.uniform(key, counter, 2 * salt + 1))
        return result

    def between(
        self, low: float, high: float, key: npt.ArrayLike, counter: npt.ArrayLike = 0, salt: int = 0
    ) -> FloatArray:
        """Uniform in [low, high)."""
        result: FloatArray = low + (high - low) * self.uniform(key, counter, salt)
        return result
