// widget placeholder during build
