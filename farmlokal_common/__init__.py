"""farmlokal_common package."""
