"""Reports: the site's index page and the weekly stakeholder digest."""
