"""Campaigns: near-duplicate texts (the same advert with small edits) recognised across senders."""
