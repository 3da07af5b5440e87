"""The vanishing sample in the functional API: a chain of `x = layers.Conv2D(...)(x)` calls,
some in a loop. Analyze Gradients marks the first conv's line; the BatchNormalization fix
inserts `x = layers.BatchNormalization()(x)` after it.
"""
import keras
from keras import layers

inputs = keras.Input(shape=(28, 28, 1), name="image")
x = layers.Conv2D(8, 3, padding="same", activation="sigmoid")(inputs)
for _ in range(4):
    x = layers.Conv2D(8, 3, padding="same", activation="sigmoid")(x)
x = layers.MaxPooling2D(2)(x)
for _ in range(5):
    x = layers.Conv2D(8, 3, padding="same", activation="sigmoid")(x)
x = layers.MaxPooling2D(2)(x)
x = layers.Flatten()(x)
outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs, outputs, name="vanishing_functional")
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy")
