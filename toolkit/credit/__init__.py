"""Credit at the moment of sale: approve, approve with conditions, refer or decline an order."""
