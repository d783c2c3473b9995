"""The seeder's vocabulary: categories with their items, varieties, packs and base prices; description phrases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    name: str
    varieties: tuple[str, ...]
    packs: tuple[tuple[str, float], ...]  # label, price multiplier
    base_price: float


def _items(spec: str, packs: tuple[tuple[str, float], ...]) -> tuple[Item, ...]:
    """'Mango: Alphonso, Kesar @ 120' lines -> items."""
    items = []
    for line in spec.strip().splitlines():
        head, price = line.rsplit("@", 1)
        name, _, varieties = head.partition(":")
        items.append(
            Item(
                name.strip(),
                tuple(v.strip() for v in varieties.split(",") if v.strip()),
                packs,
                float(price),
            )
        )
    return tuple(items)


WEIGHT = (("250g", 0.3), ("500g", 0.55), ("1kg", 1.0), ("2kg", 1.9), ("5kg", 4.5))
SMALL = (("50g", 0.25), ("100g", 0.5), ("200g", 1.0), ("500g", 2.3))
LIQUID = (("200ml", 0.25), ("500ml", 0.55), ("1L", 1.0), ("2L", 1.9), ("5L", 4.6))
COUNT = (("Pack of 6", 0.5), ("Pack of 12", 1.0), ("Pack of 30", 2.4))
UNIT = (("1 pc", 1.0), ("Pack of 2", 1.9), ("Pack of 4", 3.6))

CATALOG: dict[str, tuple[Item, ...]] = {
    "Fruits": _items(
        """
        Mango: Alphonso, Kesar, Totapuri, Banganapalli, Dasheri, Langra @ 160
        Banana: Robusta, Elaichi, Nendran, Red @ 60
        Apple: Shimla, Kinnaur, Fuji, Gala, Royal Gala @ 180
        Orange: Nagpur, Kinnow @ 90
        Papaya: Red Lady @ 50
        Guava: Allahabad Safeda, Pink @ 80
        Pomegranate: Bhagwa, Ganesh @ 200
        Grapes: Thompson Seedless, Black Sharad @ 120
        Pineapple: Queen @ 70
        Chikoo: Kalipatti @ 90
        Lychee: Shahi @ 250
        Strawberry: Mahabaleshwar @ 300
        Watermelon: Kiran @ 40
        Jackfruit: @ 60
        """,
        WEIGHT,
    ),
    "Vegetables": _items(
        """
        Tomato: Desi, Hybrid, Cherry @ 40
        Onion: Nashik Red, White @ 35
        Potato: Jyoti, Baby @ 30
        Okra: @ 60
        Brinjal: Bharta, Purple Long @ 50
        Cauliflower: @ 45
        Cabbage: Red, Green @ 35
        Carrot: Ooty, Red Delhi @ 55
        Cucumber: English, Desi @ 40
        Capsicum: Green, Red, Yellow @ 90
        Beans: French, Cluster @ 70
        Peas: Green @ 80
        Bottle Gourd: @ 35
        Bitter Gourd: @ 60
        Pumpkin: Yellow @ 30
        Radish: White @ 30
        Beetroot: @ 45
        Drumstick: @ 90
        """,
        WEIGHT,
    ),
    "Herbs & Greens": _items(
        """
        Spinach: Palak @ 30
        Fenugreek: Methi @ 30
        Mint: Pudina @ 20
        Coriander Leaves: @ 20
        Curry Leaves: @ 15
        Basil: Sweet, Tulsi @ 40
        Microgreens: Radish, Sunflower, Mustard @ 120
        Lettuce: Iceberg, Romaine @ 80
        """,
        SMALL,
    ),
    "Dairy": _items(
        """
        Milk: A2 Cow, Buffalo, Toned, Full Cream @ 70
        Curd: Set, Greek @ 60
        Paneer: Malai, Low Fat @ 400
        Butter: White, Salted, Unsalted @ 500
        Ghee: A2 Cow, Buffalo, Bilona @ 900
        Cheese: Cheddar, Mozzarella, Gouda @ 800
        Buttermilk: Spiced @ 40
        Cream: Fresh @ 300
        """,
        LIQUID,
    ),
    "Eggs": _items(
        """
        Eggs: Country, Brown, White, Free Range, Omega 3 @ 90
        Duck Eggs: @ 150
        Quail Eggs: @ 120
        """,
        COUNT,
    ),
    "Bakery": _items(
        """
        Bread: Whole Wheat, Multigrain, Sourdough, Milk @ 50
        Buns: Burger, Pav @ 40
        Rusk: Elaichi, Whole Wheat @ 80
        Cookies: Oat, Ragi, Butter, Choco Chip @ 120
        Cake: Banana Walnut, Plum, Carrot @ 350
        Croissant: Butter, Almond @ 90
        """,
        UNIT,
    ),
    "Rice & Grains": _items(
        """
        Rice: Basmati, Sona Masoori, Ponni, Kolam, Red, Brown, Black @ 90
        Wheat: Sharbati, Khapli @ 45
        Millet: Jowar, Bajra, Ragi, Foxtail, Kodo @ 80
        Oats: Rolled, Steel Cut @ 150
        Quinoa: White, Red @ 400
        Poha: Thick, Thin @ 60
        """,
        WEIGHT,
    ),
    "Pulses": _items(
        """
        Toor Dal: Unpolished @ 140
        Moong Dal: Yellow, Green @ 130
        Chana Dal: @ 100
        Urad Dal: Black, White @ 130
        Masoor Dal: Red @ 110
        Rajma: Jammu, Chitra @ 160
        Chickpeas: Kabuli, Kala @ 120
        """,
        WEIGHT,
    ),
    "Spices": _items(
        """
        Turmeric: Lakadong, Erode @ 300
        Chilli Powder: Kashmiri, Guntur, Byadgi @ 350
        Coriander Powder: @ 200
        Cumin: Whole, Powder @ 500
        Cardamom: Green, Black @ 3000
        Black Pepper: Malabar, Tellicherry @ 900
        Cloves: @ 1500
        Cinnamon: Ceylon, Cassia @ 800
        Garam Masala: Homestyle @ 600
        Saffron: Kashmiri @ 250000
        """,
        SMALL,
    ),
    "Oils": _items(
        """
        Groundnut Oil: Cold Pressed, Wood Pressed @ 250
        Mustard Oil: Kachi Ghani @ 220
        Coconut Oil: Virgin, Cold Pressed @ 350
        Sesame Oil: Cold Pressed @ 400
        Sunflower Oil: Refined @ 180
        """,
        LIQUID,
    ),
    "Honey & Preserves": _items(
        """
        Honey: Wild Forest, Multiflora, Litchi, Acacia @ 500
        Jam: Mixed Fruit, Strawberry, Mango @ 250
        Pickle: Mango, Lime, Garlic, Mixed @ 300
        Chutney: Tamarind, Coconut @ 200
        """,
        SMALL,
    ),
    "Beverages": _items(
        """
        Tea: Assam, Darjeeling, Nilgiri, Masala, Green @ 400
        Coffee: Arabica, Robusta, Filter @ 600
        Juice: Orange, Apple, Amla, Mixed Fruit @ 120
        Coconut Water: Tender @ 60
        Kombucha: Ginger, Hibiscus @ 150
        """,
        LIQUID,
    ),
    "Snacks": _items(
        """
        Chips: Banana, Potato, Tapioca @ 80
        Namkeen: Bhujia, Mixture @ 100
        Makhana: Roasted, Peri Peri @ 200
        Chikki: Peanut, Sesame @ 60
        Trail Mix: Classic @ 250
        """,
        SMALL,
    ),
    "Nuts & Dry Fruits": _items(
        """
        Almonds: California, Mamra @ 900
        Cashews: W240, W320 @ 1000
        Walnuts: Kashmiri @ 1200
        Raisins: Golden, Black @ 400
        Dates: Medjool, Kimia @ 600
        Pistachios: Salted, Iranian @ 1600
        Figs: Dried @ 1400
        """,
        SMALL,
    ),
    "Meat & Poultry": _items(
        """
        Chicken: Country, Broiler, Boneless @ 280
        Mutton: Curry Cut, Keema @ 750
        """,
        WEIGHT,
    ),
    "Seafood": _items(
        """
        Prawns: Tiger, White @ 600
        Pomfret: Silver, Black @ 900
        Rohu: @ 250
        Surmai: @ 800
        Mackerel: @ 300
        """,
        WEIGHT,
    ),
    "Flours": _items(
        """
        Atta: Chakki Fresh, Multigrain @ 55
        Besan: @ 110
        Ragi Flour: @ 90
        Rice Flour: @ 70
        Maida: @ 50
        """,
        WEIGHT,
    ),
    "Sweeteners & Sweets": _items(
        """
        Jaggery: Kolhapuri, Powder @ 90
        Sugar: Organic Brown @ 70
        Laddoo: Besan, Motichoor @ 500
        Barfi: Kaju, Coconut @ 800
        """,
        SMALL,
    ),
    "Household": _items(
        """
        Dishwash Liquid: Lemon, Herbal @ 150
        Floor Cleaner: Pine, Citrus @ 200
        Detergent: Liquid, Powder @ 250
        Garbage Bags: Biodegradable @ 120
        Scrub Pads: Coconut Coir @ 60
        """,
        LIQUID,
    ),
    "Personal Care": _items(
        """
        Soap: Neem, Sandalwood, Goat Milk, Charcoal @ 80
        Shampoo: Herbal, Reetha @ 300
        Hair Oil: Bhringraj, Coconut @ 250
        Face Wash: Neem, Aloe @ 200
        Toothpaste: Herbal, Charcoal @ 120
        """,
        UNIT,
    ),
}

# Category weights (share of products): produce dominates, as on a farm marketplace.
CATEGORY_WEIGHTS: dict[str, float] = {
    "Fruits": 11,
    "Vegetables": 13,
    "Herbs & Greens": 4,
    "Dairy": 8,
    "Eggs": 3,
    "Bakery": 5,
    "Rice & Grains": 7,
    "Pulses": 5,
    "Spices": 6,
    "Oils": 4,
    "Honey & Preserves": 4,
    "Beverages": 5,
    "Snacks": 5,
    "Nuts & Dry Fruits": 4,
    "Meat & Poultry": 2,
    "Seafood": 2,
    "Flours": 3,
    "Sweeteners & Sweets": 3,
    "Household": 3,
    "Personal Care": 3,
}

QUALIFIERS = ("Organic", "Fresh", "Premium", "Farm Fresh", "Natural", "Handpicked", "Homemade", "Classic")

REGIONS = (
    "Ratnagiri", "Nashik", "Shimla", "Kinnaur", "Ooty", "Coorg", "Wayanad", "Idukki", "Guntur", "Erode",
    "Nagpur", "Kolhapur", "Sangli", "Anand", "Mysuru", "Darjeeling", "Assam", "Lonavala", "Palghar",
    "Hassan", "Chikmagalur", "Theni", "Dindigul", "Belagavi", "Jalgaon", "Satara", "Pune", "Nilgiris",
    "Malabar", "Kutch",
)  # fmt: skip

OPENERS = (
    "Sourced directly from small farmers near {region}.",
    "Grown by our partner farms in {region} and packed at source.",
    "Harvested fresh in {region} and delivered within a day.",
    "From the fields of {region}, picked at peak season.",
    "Carefully selected from trusted growers around {region}.",
)

# Shared sentences with skewed use: the first few appear in most descriptions.
PHRASES = (
    "Fresh quality you can trust.",
    "No artificial colours or preservatives.",
    "Packed in recyclable packaging.",
    "Store in a cool and dry place.",
    "Ideal for everyday family cooking.",
    "Rich in natural flavour and aroma.",
    "Cleaned, sorted and graded by hand.",
    "Perfect for festive recipes and gifting.",
    "Best enjoyed within a week of delivery.",
    "Lab tested for purity and freshness.",
    "Supports fair prices for rural growers.",
    "Traditional methods, honest taste.",
    "Chemical free cultivation practices followed.",
    "Delivered chilled to keep it crisp.",
    "Loved by home chefs across the city.",
    "Grown with compost and natural manure.",
    "A pantry staple for healthy meals.",
    "Great for breakfast, lunch and dinner.",
    "Small batch production for better quality.",
    "Certified by the regional organic council.",
)

FARM_SYLLABLES = (
    "ka", "ri", "sha", "van", "mal", "de", "go", "pa", "ti", "ru", "ne", "la", "bha", "su", "ven",
    "kot", "pur", "gan", "dhi", "mor", "sar", "jai", "hem", "lok", "ami", "tar", "vik", "nan", "ush", "ro",
)  # fmt: skip
FARM_SUFFIXES = ("Farms", "Orchards", "Organics", "Gardens", "Estate", "Growers", "Cooperative", "Naturals")
