mod check;
mod manifest;
