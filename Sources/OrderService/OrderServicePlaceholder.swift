enum OrderServicePlaceholder {}
