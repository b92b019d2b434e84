"""pyomo_ecc.pricing"""
