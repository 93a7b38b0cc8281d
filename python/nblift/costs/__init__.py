"""What runs cost: hourly rates of targets (`prices`), estimates before a launch (`estimate`) and the sum of
what runs cost (`ledger`)."""
