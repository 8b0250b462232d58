"""The collection policy the billing manual sets: late charges, contact limits, send windows, who is collecting."""
