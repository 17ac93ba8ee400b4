"""Qingdao's ten districts: where the seed city puts its lots.

Centres are approximate (WGS84, about 1 km); populations are 2020 census residents in millions,
rounded. The core districts are the old urban centre, where parking is densest.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class District:
    name: str
    name_zh: str
    lon: float
    lat: float
    population_m: float
    core: bool


CITY_NAME = "Qingdao"
CITY_CENTRE = (120.3826, 36.0671)  # lon, lat

DISTRICTS: tuple[District, ...] = (
    District("Shinan", "市南区", 120.3826, 36.0671, 0.59, core=True),
    District("Shibei", "市北区", 120.3748, 36.0873, 1.09, core=True),
    District("Licang", "李沧区", 120.4327, 36.1451, 0.70, core=True),
    District("Laoshan", "崂山区", 120.4686, 36.1072, 0.56, core=True),
    District("Huangdao", "黄岛区", 120.1982, 35.9607, 1.90, core=False),
    District("Chengyang", "城阳区", 120.3964, 36.3076, 1.11, core=False),
    District("Jimo", "即墨区", 120.4473, 36.3895, 1.34, core=False),
    District("Jiaozhou", "胶州市", 120.0335, 36.2644, 1.01, core=False),
    District("Pingdu", "平度市", 119.9887, 36.7769, 1.19, core=False),
    District("Laixi", "莱西市", 120.5177, 36.8880, 0.73, core=False),
)
