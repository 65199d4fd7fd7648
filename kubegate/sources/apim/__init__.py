"""APIM sources: policy XML documents and the C#-subset policy expression compiler."""
