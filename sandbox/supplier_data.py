"""The sandbox supplier's products: a deterministic data set, listed in a stable order, changeable on demand."""

from __future__ import annotations

import datetime as dt
import random
import threading
from dataclasses import dataclass, replace
from decimal import Decimal

CATEGORIES = ("Dairy", "Fruits", "Grains", "Herbs", "Honey", "Nuts", "Spices", "Vegetables")
_PRODUCE = {
    "Dairy": ("Cow Milk", "Paneer", "Ghee", "Curd", "Butter"),
    "Fruits": ("Alphonso Mango", "Banana", "Guava", "Papaya", "Pomegranate"),
    "Grains": ("Basmati Rice", "Millet", "Wheat Flour", "Ragi", "Jowar"),
    "Herbs": ("Coriander", "Mint", "Curry Leaves", "Tulsi", "Fenugreek"),
    "Honey": ("Wild Honey", "Forest Honey", "Litchi Honey", "Mustard Honey", "Neem Honey"),
    "Nuts": ("Cashew", "Almond", "Walnut", "Peanut", "Pistachio"),
    "Spices": ("Turmeric", "Cardamom", "Black Pepper", "Cumin", "Red Chilli"),
    "Vegetables": ("Tomato", "Okra", "Spinach", "Brinjal", "Carrot"),
}
_ADJECTIVES = ("Organic", "Farm Fresh", "Hill Grown", "Sun Dried", "Handpicked", "Heirloom", "Royal")
_SIZES = ("250g", "500g", "1kg", "2kg", "5kg")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SupplierProduct:
    external_id: str
    name: str
    description: str
    category: str
    price: Decimal
    stock: int
    updated_at: dt.datetime

    def to_json(self) -> dict[str, object]:
        return {
            "external_id": self.external_id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "price": f"{self.price:.2f}",
            "stock": self.stock,
            "updated_at": rfc3339(self.updated_at),
        }


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generate(count: int, seed: int) -> list[SupplierProduct]:
    rng = random.Random(seed)
    products = []
    for i in range(1, count + 1):
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        produce = rng.choice(_PRODUCE[category])
        name = f"{rng.choice(_ADJECTIVES)} {produce} {rng.choice(_SIZES)}"
        products.append(
            SupplierProduct(
                external_id=f"sup-{i:05d}",
                name=name,
                description=f"{name} from partner farm {rng.randint(1, 400)}, packed to order.",
                category=category,
                price=Decimal(rng.randint(1000, 200_000)) / 100,
                stock=rng.randint(0, 500),
                updated_at=EPOCH + dt.timedelta(minutes=i),
            )
        )
    return products


class SupplierCatalog:
    """Ordered by (updated_at, external_id), so pages are stable while nothing changes."""

    def __init__(self, count: int, seed: int) -> None:
        self._count, self._seed = count, seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._products = generate(self._count, self._seed)
            self._mutations = 0

    def page(
        self, page: int, page_size: int, updated_since: dt.datetime | None
    ) -> tuple[list[SupplierProduct], int]:
        """One page (from 1) of the products updated at or after updated_since, and their total."""
        with self._lock:
            matching = [p for p in self._products if updated_since is None or p.updated_at >= updated_since]
        start = (page - 1) * page_size
        return matching[start : start + page_size], len(matching)

    def mutate(self, count: int, now: dt.datetime | None = None) -> list[str]:
        """Changes the price and stock of the `count` least recently updated products; returns their ids.

        Their updated_at become distinct and later than any other, as a real supplier's clock would.
        """
        with self._lock:
            latest = max(p.updated_at for p in self._products)
            start = max(now or dt.datetime.now(dt.UTC), latest) + dt.timedelta(milliseconds=1)
            chosen = self._products[:count]
            self._mutations += 1
            changed = [
                replace(
                    p,
                    price=p.price + Decimal("1.00"),
                    stock=(p.stock + 7 * self._mutations) % 501,
                    updated_at=start + dt.timedelta(milliseconds=i),
                )
                for i, p in enumerate(chosen)
            ]
            self._products = self._products[count:] + changed
            return [p.external_id for p in changed]
