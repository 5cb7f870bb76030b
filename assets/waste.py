"""Cleanliness and waste (propreté): pickups, sensor readings, litter, tonnage per day."""


from transforms import waste as T

from .lake import Lake
from .layers import bronze, gold, silver, silver_key


@silver("collection_events", group="proprete", deps=[bronze("collection_logs"), silver_key("collection_points")],
        keys=["bin_id", "collected_at"])
def collection_events(lake: Lake):
    """Pickups: truck, bin, time (UTC) and local date, net weight (kg), fill seen at pickup (0-1),
    contamination flag, with the bin's stream, quartier and capacity (L)."""
    return T.collection_events(lake.read("bronze", "collection_logs"), lake.read("silver", "collection_points"))


@silver("bin_readings", group="proprete", deps=[bronze("bin_readings")], keys=["message_id"])
def bin_readings(lake: Lake):
    """Bin fill-sensor readings, each message once: fill level (0-1), status, temperature (°C)."""
    return T.bin_readings(lake.read("bronze", "bin_readings"))


@silver("litter_detections", group="proprete", deps=[bronze("litter_detections"), silver_key("quartiers")],
        keys=["detection_id"])
def litter_detections(lake: Lake):
    """Litter detections from vehicle cameras: category, count, position, quartier, local date."""
    return T.litter_detections(lake.read("bronze", "litter_detections"), lake.read("silver", "quartiers"))


@gold("tonnage_daily", group="proprete", deps=[silver_key("collection_events")])
def tonnage_daily(lake: Lake):
    """Per local date, quartier and stream: pickups, tonnes, mean fill at pickup (0-1),
    contamination rate (% of pickups)."""
    return T.tonnage_daily(lake.read("silver", "collection_events"))


ASSETS = [collection_events, bin_readings, litter_detections, tonnage_daily]
