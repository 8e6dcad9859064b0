"""The statistics the province is measured by (domain §9), as JSON, CSV and charts."""
