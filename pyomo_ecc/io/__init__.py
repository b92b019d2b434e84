"""pyomo_ecc.io"""
