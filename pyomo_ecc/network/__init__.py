"""pyomo_ecc.network"""
