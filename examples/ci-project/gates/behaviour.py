"""Behaviour cases for the churn model: `nblift check churn@champion` runs them against the candidate's
`predict` on data/current.csv (see [tool.nblift.promotion.champion.behaviour] in pyproject.toml)."""

from nblift.gates import directional, invariance, minimum_functionality


@invariance(min_pass=0.95)
def charges_rounded_to_the_dollar(data):
    """Cents on the bill should not change who is predicted to churn."""
    return data.assign(monthly_charges=data["monthly_charges"].round(0))


@directional("increase")
def more_support_tickets_never_lower_the_risk(data):
    return data.assign(support_tickets=data["support_tickets"] + 3)


@minimum_functionality(min_pass=0.9)
def loyal_customers_stay(data):
    """Long two-year customers without complaints are predicted to stay."""
    rows = data[(data["tenure_months"] >= 48) & (data["contract"] == "two_year") & (data["support_tickets"] == 0)]
    return rows, [0] * len(rows)
