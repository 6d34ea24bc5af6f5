"""Reference data: exchange rates and countries, from the offline bundles or an API's payloads."""
